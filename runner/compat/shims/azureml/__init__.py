"""Local stand-in for azureml-core, used only when azureml-core is not installed."""
