"""The operations (qp, vbr, auto) as step pipelines over a state manager."""
