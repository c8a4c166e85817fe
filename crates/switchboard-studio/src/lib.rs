//! Studio's domain, pure (no I/O, no clock): flow definitions in Studio's own JSON, their
//! validation, the Liquid templates and split conditions of widgets, and the execution stream
//! that runs a definition step by step. Time and HTTP answers come in with commands.
