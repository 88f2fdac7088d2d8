package proxywasm

func foreignFuncs() []hostFunc { return nil }
