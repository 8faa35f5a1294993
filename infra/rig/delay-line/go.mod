// The rig's user-space delay line (netem is missing from the kernel), built
// by infra/k8s-test/build.sh (target delay-line). Standard library only: the
// empty go.sum is there because build.sh hashes every module's go.mod and go.sum.
module k8s-netmon.test/delay-line

go 1.26
