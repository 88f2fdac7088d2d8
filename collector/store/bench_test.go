package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRecordLookup reads records by pairing key (the query API's
// GetRequest) from a store of one million, written 1,000 per transaction
// as the collector's group commits write them, under random keys.
func BenchmarkRecordLookup(b *testing.B) {
	const total, perTxn = 1_000_000, 1_000
	s := openTest(b, b.TempDir(), 3)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 0, total)
	for txn := range total / perTxn {
		var batch Batch
		for i := range perTxn {
			key := fmt.Sprintf("%016x-%07d", rng.Uint64(), txn*perTxn+i)
			keys = append(keys, key)
			batch.Records = append(batch.Records, record(key, "GET /a", at(txn), false))
		}
		if err := s.Apply(&batch); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("records=1M", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := s.Record(keys[rng.IntN(total)]); !ok || err != nil {
				b.Fatalf("lookup: %v %v", ok, err)
			}
		}
	})
}
