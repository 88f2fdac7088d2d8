/*
How the engine decides (the "collector README" that query.proto refers to).

Per request, primary vs candidate ("raw") and primary vs secondary ("noise")
are diffed field by field. A raw difference is explained by the same
request's noise when the noise difference at that path is at least as deep:
a value difference explains a value difference, but not a type, shape or
presence change, so a timestamp that becomes a number or null is real even
though the timestamp's value is noise.

Per endpoint and field, counters are kept per time bucket (1 minute, rolled
up to 1 hour after 2 hours), so queries add buckets and never re-diff
stored requests.

The statistical decision for a field with a secondary is a sign test on
discordant requests: b requests where only primary vs candidate differed
("definite" evidence), c where only primary vs secondary did. If the
candidate were just another primary, secondary and candidate would be
exchangeable and b ~ Binomial(b+c, 1/2). The same test runs on structural
differences only. Without a secondary, the raw difference rate is compared
with the rate at which repeated identical requests (same method, path,
query and body) to the primary differ (normal approximation), or with a
0.1 % floor when there are none.

False positives are controlled two ways:
  - Across fields: the p-value is multiplied by the number of informative
    tests of the endpoint (Bonferroni over fields and their two channels;
    fields without discordant requests cannot reject and are not counted).
  - Across repeated queries: the p-value is always valid. It is 1/Λ for a
    mixture sequential probability ratio (a half-normal mixture, τ = 0.1,
    over exp(θS - nθ²/2)), a non-negative supermartingale under the null,
    so by Ville's inequality the chance that a noise-only field is ever
    called significant, however often the results are looked at, stays
    below 1 - Confidence. TestRepeatedLooksControlFalsePositives shows it
    next to a naive fixed-sample test that exceeds alpha.
Decisions need MinSamples compared requests. Each endpoint is its own
family (no correction across endpoints), and a query over a time range
looks at a different sequence than the all-time one. The unpaired test
(no secondary) is approximate.

Storage: every closed request keeps a compact record (digests without
body fields, plus its differences). Samples keep full digests, per
(endpoint, field, definite or not) the SamplesPerField newest; once a
field has its samples it takes at most one new one per second, which
bounds the writes of full records. Only fields the time bucket counts are
sampled (a bucket counts at most 4,096: ids as object keys would
otherwise add a sample with every response), and what paces them is kept
for as many fields per endpoint: when that is full, fields without a
sample for a minute are forgotten; retention forgets the fields whose
samples it deleted. A pairing key names one request, the latest: a key
sent again once the pairer forgot it (a client's retry with the same
x-request-id, a collision) is a new request, whose record replaces the
earlier one's, and the earlier one's samples go with it in the same
write. Retention deletes records and samples older than the cut, and a
time bucket once it ended by the cut, so the counters cover every
request still kept. Pending digests are written on ingest (as received,
when the server passes their encoding) and reloaded on Open; in memory
they are kept slim: the message without body fields, and the fields in
one flat slice with shared paths. Ingest returns once its batch is
committed (concurrent ingests share one transaction).

Endpoints: a request is named by the most specific endpoint rule that
matches it, else "METHOD /path" with numeric, UUID and long hex segments
as {id}. A path position that takes more than AutoTemplateThreshold
distinct values among paths alike elsewhere (same method, length and
other segments) becomes a learned rule ("GET /products/{slug}"), in force
at once and stored like a user's; results counted under the old names
stay until retention. Only names not in the mapper's cache cost anything:
the learner sees each (method, path) once, keeps 64-bit hashes, and
forgets its smallest groups past a fixed budget. Past MaxEndpoints
endpoints with results (or whose first request is pending), a request
that would open one more is counted under "METHOD {other}"; rules'
endpoints are always admitted.

Diffy's numbers are served alongside: relative = |r-n|/(r+n)·100,
absolute = |r-n|/T·100, reported iff r > n, relative > 20, absolute > 0.03.
*/

package engine
