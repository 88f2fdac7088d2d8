package sampleapp

import (
	"fmt"
	mrand "math/rand/v2"
	"net/http"

	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

// Mix is the share of each route in Traffic, in percent (sums to 100).
var Mix = []struct {
	Route   string
	Percent int
}{
	{"GET /users/{id}", 28},
	{"GET /orders", 16},
	{"GET /catalog/items", 14},
	{"GET /health", 5},
	{"GET /legacy", 5},
	{"GET /export", 6},
	{"GET /avatar/{id}", 6},
	{"GET /report", 2},
	{"POST /orders", 6},
	{"PUT /users/{id}", 6},
	{"DELETE /orders/{id}", 6},
}

// Traffic returns n requests in the proportions of Mix, reproducible from
// seed. User ids are drawn from 1..1000, so about one GET /users/{id} in ten
// shows the user-tier change.
func Traffic(seed uint64, n int) []traffic.Request {
	rng := mrand.New(mrand.NewPCG(seed, 0x5ad0))
	json := http.Header{"Content-Type": {"application/json"}}
	reqs := make([]traffic.Request, 0, n)
	for range n {
		p := rng.IntN(100)
		route := Mix[len(Mix)-1].Route
		for _, m := range Mix {
			if p < m.Percent {
				route = m.Route
				break
			}
			p -= m.Percent
		}
		user := 1 + rng.IntN(1000)
		var r traffic.Request
		switch route {
		case "GET /users/{id}":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/users/%d", user)}
		case "GET /orders":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/orders?user=%d", user)}
		case "GET /catalog/items":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/catalog/items?page=%d", 1+rng.IntN(20))}
		case "GET /health":
			r = traffic.Request{Method: "GET", Path: "/health"}
		case "GET /legacy":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/legacy?q=%d", rng.IntN(100))}
		case "GET /export":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/export?user=%d", user)}
		case "GET /avatar/{id}":
			r = traffic.Request{Method: "GET", Path: fmt.Sprintf("/avatar/%d", user)}
		case "GET /report":
			r = traffic.Request{Method: "GET", Path: "/report"}
		case "POST /orders":
			r = traffic.Request{Method: "POST", Path: "/orders", Header: json.Clone(),
				Body: fmt.Appendf(nil, `{"user":%d,"items":[{"sku":"SKU-%05d","qty":%d}]}`, user, 1+rng.IntN(400), 1+rng.IntN(3))}
		case "PUT /users/{id}":
			r = traffic.Request{Method: "PUT", Path: fmt.Sprintf("/users/%d", user), Header: json.Clone(),
				Body: fmt.Appendf(nil, `{"email":"user%d@example.org"}`, user)}
		case "DELETE /orders/{id}":
			r = traffic.Request{Method: "DELETE", Path: fmt.Sprintf("/orders/%d", user*100+1)}
		}
		reqs = append(reqs, r)
	}
	return reqs
}
