package proxywasm

func headerFuncs() []hostFunc { return nil }
