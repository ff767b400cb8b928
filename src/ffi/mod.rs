//! The C ABI (see include/wsbeat.h).
