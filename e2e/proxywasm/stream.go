package proxywasm

func streamFuncs() []hostFunc { return nil }
