"""Generated stubs of the CSI driver's provider API, v1alpha1 (see service.proto)."""
