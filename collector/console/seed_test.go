package console

import (
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// seeded describes the data a seeded collector holds, so tests assert what
// the data implies.
type seeded struct {
	q              shadowdiffv1.QueryServer
	regressed      string // endpoint with a real regression
	noisy          string // endpoint whose only differences are noise
	clean          string // endpoint without differences
	regressedField string
	noiseField     string
	sameField      string
	candidateValue string // raw value of regressedField on the candidate
	totalRequests  string
	honoursRange   bool              // the Query service filters by time window
	ratings        map[string]string // endpoint -> rating name
}

// ranked is the expected overview order with ratings: regressed first.
func (s *seeded) ranked() []string {
	var out []string
	for _, e := range []string{s.regressed, s.noisy, s.clean} {
		out = append(out, e+"="+s.ratings[e])
	}
	return out
}

func seedCollector(t *testing.T) *seeded {
	t.Helper()
	return &seeded{
		q: newFakeQuery(), regressed: "GET /api/orders/{id}", clean: "GET /api/products", noisy: "GET /api/time",
		regressedField: "body.order.total", noiseField: "body.meta.generated_at", sameField: "body.items[].sku",
		candidateValue: "10.50", totalRequests: "915",
		ratings: map[string]string{"GET /api/orders/{id}": "POOR", "GET /api/time": "PERFECT", "GET /api/products": "PERFECT"},
	}
}
