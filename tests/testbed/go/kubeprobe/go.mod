module jetgen.test/kubeprobe

go 1.25
