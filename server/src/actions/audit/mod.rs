pub mod view_audit_logs;
