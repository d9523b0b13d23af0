//! Helpers shared by the broker fault and NATS security tests (each test
//! file includes this module with `mod support;`): [`workload`], a
//! workload with duplicates, a producer that keeps publishing through
//! broker outages, and the end check "every event applied once"; and
//! [`secure`], test keys, certificates, JWTs and the shipped broker
//! configuration rewritten for loopback.

// Each test target uses only part of these helpers (and of what they
// re-export from the harness).
#![allow(dead_code, unused_imports)]

pub mod secure;
pub mod workload;
