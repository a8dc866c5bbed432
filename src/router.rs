//! Which service gets the next request.
