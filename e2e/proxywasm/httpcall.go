package proxywasm

func httpCallFuncs() []hostFunc { return nil }

// callout is an outstanding http or gRPC call of a VM.
type callout interface{ cancel() }
