/** What the console needs to find the public APIs; served next to it as config.json (written from stack outputs). */
export interface ConsoleConfig {
  region: string;
  /** The HTTP API's invoke URL (no trailing slash). */
  httpApiUrl: string;
  /** The WebSocket API's URL, stage included. */
  webSocketUrl: string;
  /** Cognito's endpoint for InitiateAuth (https://cognito-idp.<region>.amazonaws.com/ on AWS). */
  cognitoEndpoint: string;
  userPoolClientId: string;
  symbols: string[];
}
