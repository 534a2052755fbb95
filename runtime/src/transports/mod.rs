//! Transports: how messages enter Ferry. HTTP is the one listening transport; the compiled
//! configuration plugs its route table and request handler into it.

pub mod http;
