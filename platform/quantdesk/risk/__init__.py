"""Risk engine: limits, pre-trade checks, the audit trail, VaR/ES and VaR backtesting (monitor and alerts build on them)."""

from quantdesk.config.risk import LIMIT_TYPES, SCOPES, UNITS, LimitConfig, RiskLimitsConfig
from quantdesk.risk.audit import AUDIT_KINDS, AuditRecord, AuditTrail, read_export
from quantdesk.risk.breach import (
    BreachDataset, BreachEvaluation, BreachModel, ReplayHistory, breach_dataset, breach_features, breach_labels,
    replay_history, time_split, train_breach_model,
)  # fmt: skip
from quantdesk.risk.checks import BookSummary, Breach, Decision, Order, PreTradeChecker
from quantdesk.risk.dynamic import DynamicLimits, DynamicLimitsConfig, DynamicRuleConfig, LimitAdjustment
from quantdesk.risk.forecast import Outlook, RiskForecaster
from quantdesk.risk.gate import NautilusControls, RiskGate, install_gate, market_price
from quantdesk.risk.monitor import (
    Alert, BookMeasures, CircuitBreaker, EscalationPolicy, LimitStatus, MonitorSnapshot, RiskMonitor, TradingControls,
    book_value,
)  # fmt: skip
from quantdesk.risk.limits import Authorize, LimitBook
from quantdesk.risk.measures import (
    GarchForecast, RiskEstimate, ScenarioMatrix, garch_forecast, garch_var, historical_var, monte_carlo_var,
    parametric_var,
)  # fmt: skip
from quantdesk.risk.var_backtest import (
    CoverageTest, TrafficLight, VarBacktest, backtest_var, conditional_coverage_test, independence_test, kupiec_test,
    rolling_var, traffic_light,
)  # fmt: skip

__all__ = [
    "AUDIT_KINDS", "LIMIT_TYPES", "SCOPES", "UNITS", "AuditRecord", "AuditTrail", "Authorize", "BookSummary", "Breach",
    "Decision", "Outlook", "RiskForecaster", "Alert", "BookMeasures", "CircuitBreaker", "EscalationPolicy", "LimitStatus", "MonitorSnapshot", "NautilusControls",
    "RiskMonitor", "TradingControls", "book_value", "market_price", "LimitBook", "LimitConfig", "Order", "PreTradeChecker", "RiskGate", "RiskLimitsConfig", "install_gate",
    "read_export",
    "CoverageTest", "GarchForecast", "RiskEstimate", "ScenarioMatrix", "TrafficLight", "VarBacktest", "backtest_var",
    "conditional_coverage_test", "garch_forecast", "garch_var", "historical_var", "independence_test", "kupiec_test",
    "monte_carlo_var", "parametric_var", "rolling_var", "traffic_light",
    "DynamicLimits", "DynamicLimitsConfig", "DynamicRuleConfig", "LimitAdjustment",
    "BreachDataset", "BreachEvaluation", "BreachModel", "ReplayHistory", "breach_dataset", "breach_features",
    "breach_labels", "replay_history", "time_split", "train_breach_model",
]  # fmt: skip
