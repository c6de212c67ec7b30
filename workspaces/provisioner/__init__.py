"""Provisioner: runs Terraform for workspace builds and template imports."""
