"""The build pipeline: jobs, their dispatch, the worker side and what a build leaves."""
