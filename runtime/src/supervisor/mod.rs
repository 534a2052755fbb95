//! What runs beside the request path (message processors, scheduled tasks), as named units.
//! For now, only what each unit was built from ([`fingerprint`]), computed at compile time.

pub mod fingerprint;
