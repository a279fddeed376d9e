// Wrapper module: builds crictl from the released cri-tools module (`go install
// pkg@version` asks the proxy for the module's version list, which it refuses).
module jetgen.dev/testbed/cri-tools

go 1.26.6

require sigs.k8s.io/cri-tools v1.37.0
