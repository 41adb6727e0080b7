//! Plot helpers
