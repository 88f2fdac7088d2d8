// Package store persists the collector's state: digests of requests that are
// still being paired, compact request records, per-endpoint aggregates kept
// per time bucket, bounded samples with full digests, and user rules.
//
// Store is the interface a backend implements; Bolt (bbolt, pure Go) is the
// embedded default. Every write of an ingest goes through Apply as one
// transaction, so what Apply returned nil for is durable.
package store

import (
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Store is what the engine needs from a backend.
type Store interface {
	// Apply writes batches, in order, in one atomic and durable
	// transaction (group commit).
	Apply(bs ...*Batch) error

	// LoadPending calls fn for every pending digest, in no particular order.
	LoadPending(fn func(p PendingDigest) error) error
	// LoadBuckets calls fn for every aggregate bucket.
	LoadBuckets(fn func(b *Bucket) error) error

	// Record returns the stored record of the latest request with the
	// pairing key, with full digests when it is kept as a sample; ok is
	// false when it is unknown. A request replaces an earlier one with its
	// key, whose samples go with it (see Batch.Records).
	Record(key string) (rec *shadowdiffv1.RequestRecord, ok bool, err error)
	// RecentRecords calls fn with the stored records (compact) whose time is
	// in [since, until], at most limit of them (0: all), newest first but
	// for records of about the same minute. rec is valid during the call.
	RecentRecords(since, until time.Time, limit int, fn func(rec *shadowdiffv1.RequestRecord) error) error
	// Samples lists sample references of an endpoint, newest first.
	Samples(q SampleQuery) ([]SampleRef, error)

	PutNoiseRule(r *shadowdiffv1.NoiseRule) (*shadowdiffv1.NoiseRule, error)
	NoiseRules() ([]*shadowdiffv1.NoiseRule, error)
	DeleteNoiseRule(id string) (bool, error)
	PutEndpointRule(r *shadowdiffv1.EndpointRule) (*shadowdiffv1.EndpointRule, error)
	EndpointRules() ([]*shadowdiffv1.EndpointRule, error)
	// DeleteEndpointRule deletes a rule; a learned one is remembered, in
	// the same transaction, in DeletedLearnedRules.
	DeleteEndpointRule(id string) (bool, error)
	// DeletedLearnedRules returns the learned rules users deleted, one
	// per method and path pattern: the collector does not learn them again.
	DeletedLearnedRules() ([]*shadowdiffv1.EndpointRule, error)

	// Clear deletes records, samples and aggregates of one endpoint (all
	// endpoints when empty); rules and pending digests stay.
	Clear(endpoint string) (requestsDeleted uint64, err error)
	// DeleteBefore deletes records and samples older than t, and buckets
	// that ended by t (a bucket may count requests that are not).
	DeleteBefore(t time.Time) (requestsDeleted uint64, err error)

	// AddDropped adds to the count of digests the filters dropped before
	// sending and returns the new total; Dropped reads it.
	AddDropped(n uint64) (uint64, error)
	Dropped() (uint64, error)

	Close() error
}
