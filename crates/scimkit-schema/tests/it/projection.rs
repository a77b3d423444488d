//! projection tests.
