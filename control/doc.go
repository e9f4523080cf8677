// Package control is the Atlas11 control plane domain: accounts, weekly
// availability and slots, appointments and events, the double-entry ledger,
// claims, payouts and the background work that settles them. It imports
// only the standard library. Storage is the narrow Store interface declared
// here (control/bolt implements it on bbolt), money leaves through the
// Gateway interface, and time comes from an injected Clock read once per
// operation.
//
// Every public method of Service is one use case that runs its rule checks
// and its writes in one store transaction. Rule IDs (APT-6, PAY-7, ...)
// refer to docs/rules.md.
package control
