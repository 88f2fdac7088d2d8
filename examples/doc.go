// Package examples holds shadowdiff's deployable examples: the Istio
// manifests in istio/ and, in oci/, the builder of the images they pull.
// The tests of this package decode every manifest strictly with the real
// Kubernetes and Istio API types and check that the files agree with each
// other (subsets, selectors, the collector's cluster name, the hash key).
package examples
