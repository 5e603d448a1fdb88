import RefundFlow
