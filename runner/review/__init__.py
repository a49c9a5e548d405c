"""What a change does to a job, for review: `runner diff OLD NEW` and `runner plan SPEC
--against REF` (compare: the comparison; revision: what REF had of the code, models and
inputs; views: text, Markdown and JSON)."""
