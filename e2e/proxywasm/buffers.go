package proxywasm

func bufferFuncs() []hostFunc { return nil }
