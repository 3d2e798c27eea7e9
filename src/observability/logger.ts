import { pino, type DestinationStream, type Logger } from "pino";

/**
 * The process logger: JSON lines, with credentials redacted wherever they may appear
 * (headers, GraphQL variables).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers.cookie",
          "*.password",
          "*.currentPassword",
          "*.newPassword",
          "*.accessToken",
          "*.refreshToken",
          "*.variables.input.password",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
