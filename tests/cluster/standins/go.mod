// Test-bed stand-ins for two CSI sidecars the Go module proxy here does not serve
// (node-driver-registrar, livenessprobe: their module paths lack the /v2 suffix their tags need).
// Built by tests/controlplane/fetch (component csi-standins); see tests/cluster/README.md.
module nearpath.test/standins

go 1.24

require (
	github.com/container-storage-interface/spec v1.9.0
	google.golang.org/grpc v1.72.2
	k8s.io/kubelet v0.35.8
)
