package proxywasm

func propertyFuncs() []hostFunc { return nil }
