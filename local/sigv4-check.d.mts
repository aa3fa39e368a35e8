/** Types of local/sigv4-check.mjs (plain JavaScript, imported as is by serverless offline). */
export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: Buffer | string;
}
export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
  service?: string;
}
export interface IamIdentity {
  accessKey: string;
  accountId: string;
  callerId: string;
  principalOrgId: null;
  userArn: string;
  userId: string;
  cognitoIdentity: null;
}
export const MAX_SKEW_MS: number;
export const LOCAL_ACCOUNT: string;
export function verifySigV4(request: SignedRequest, credentials: LocalCredentials, now?: number): { ok: true; iam: IamIdentity } | { ok: false; reason: string };
