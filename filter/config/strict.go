package config

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decodeStrict decodes JSON into v like encoding/json, but rejects unknown
// fields and reports every error with the path of the field at fault
// ("side_effects.allow_methods[1]"), so a user fixing a WasmPlugin's
// pluginConfig knows where to look.
func decodeStrict(data []byte, v any) error {
	if err := checkJSON(data); err != nil {
		return fieldError("", "not valid JSON: "+err.Error())
	}
	return decodeValue(bytes.TrimSpace(data), reflect.ValueOf(v).Elem(), "")
}

var durationType = reflect.TypeOf(Duration(0))

func decodeValue(data []byte, v reflect.Value, path string) error {
	if string(data) == "null" {
		return nil // keep the default, as encoding/json does
	}
	switch {
	case v.Type() == durationType:
		s, err := unquote(data)
		if err != nil {
			return fieldError(path, "want a duration string such as \"500ms\" or \"30s\"")
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fieldError(path, fmt.Sprintf("bad duration %q: want a value such as \"500ms\" or \"30s\"", s))
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeValue(data, v.Elem(), path)
	case v.Kind() == reflect.Struct:
		list, err := objectMembers(data)
		if err != nil {
			return fieldError(path, "want an object")
		}
		members := make(map[string][]byte, len(list))
		for _, m := range list {
			if _, twice := members[m.name]; twice {
				// encoding/json would keep the last; a key written twice
				// is more likely a mistake in a merged config.
				return fieldError(join(path, m.name), "given twice")
			}
			members[m.name] = m.value
		}
		fields := map[string]reflect.Value{}
		var known []string
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = v.Field(i)
				known = append(known, name)
			}
		}
		names := make([]string, 0, len(members))
		for name := range members {
			names = append(names, name)
		}
		sort.Strings(names) // the first error is the same on every run
		for _, name := range names {
			raw := members[name]
			f, ok := fields[name]
			if !ok {
				return fieldError(join(path, name), "unknown field (known: "+strings.Join(known, ", ")+")")
			}
			if err := decodeValue(raw, f, join(path, name)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Slice:
		items, err := arrayItems(data)
		if err != nil {
			return fieldError(path, "want a list")
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, raw := range items {
			if err := decodeValue(raw, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	if !setScalar(data, v) {
		return fieldError(path, "want "+kindName(v.Kind()))
	}
	return nil
}

// setScalar sets a string, bool or number field from its JSON value,
// as encoding/json does: integers must be written as integers and fit.
func setScalar(data []byte, v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		s, err := unquote(data)
		if err != nil {
			return false
		}
		v.SetString(s)
		return true
	case reflect.Bool:
		switch string(data) {
		case "true", "false":
			v.SetBool(string(data) == "true")
			return true
		}
		return false
	}
	if len(data) == 0 || data[0] != '-' && (data[0] < '0' || data[0] > '9') {
		return false // not a number (checkJSON vetted the rest of its form)
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return false
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(string(data), 10, 64)
		if err != nil || v.OverflowUint(n) {
			return false
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(string(data), v.Type().Bits())
		if err != nil {
			return false
		}
		v.SetFloat(f)
	default:
		return false
	}
	return true
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return k.String()
}

// FieldError is a configuration error about one field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "shadowdiff plugin config: " + e.Msg
	}
	return fmt.Sprintf("shadowdiff plugin config: %s: %s", e.Field, e.Msg)
}

func fieldError(field, msg string) error { return &FieldError{Field: field, Msg: msg} }
