"""Tests of the deployment artefacts: the container image and the Helm chart."""
