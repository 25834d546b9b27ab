"""Risk engine: limits, pre-trade checks and the audit trail (measures, monitor and alerts build on them)."""

from quantdesk.config.risk import LIMIT_TYPES, SCOPES, UNITS, LimitConfig, RiskLimitsConfig
from quantdesk.risk.audit import AUDIT_KINDS, AuditRecord, AuditTrail, read_export
from quantdesk.risk.checks import BookSummary, Breach, Decision, Order, PreTradeChecker
from quantdesk.risk.limits import Authorize, LimitBook

__all__ = [
    "AUDIT_KINDS", "LIMIT_TYPES", "SCOPES", "UNITS", "AuditRecord", "AuditTrail", "Authorize", "BookSummary", "Breach",
    "Decision", "LimitBook", "LimitConfig", "Order", "PreTradeChecker", "RiskLimitsConfig", "read_export",
]  # fmt: skip
