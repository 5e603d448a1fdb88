public enum RefundFlowVersion { public static let string = "0.1.0" }
