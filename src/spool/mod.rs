//! The request spool: intake scanning, validation, atomic delivery, journals.
