public enum BrokerVersion { public static let string = "0.1.0" }
