// node oidc-provider (a certified OpenID provider), configured like Clavis
// for the comparison bench (benches/oidc_flows.rs): one confidential client
// (client_secret_basic, PKCE S256), RS256 ID tokens, and a user who signs
// in once (the interaction logs them in without a form) and then has a
// session, as a nurse with an SSO session does in Clavis.
//   PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const env = process.env;
const issuer = `http://localhost:${env.PORT}`;
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: "bench", alg: "RS256", use: "sig" };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.CLIENT_ID,
      client_secret: env.CLIENT_SECRET,
      redirect_uris: [env.REDIRECT_URI],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "RS256",
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: ["bench-cookie-key"] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, family_name: "Lemoine", given_name: "Claire" }),
  }),
  claims: { openid: ["sub"], profile: ["family_name", "given_name"] },
  // Consent is the hospital's decision, not the nurse's: grant at once.
  // (The session's grant is reused, as oidc-provider's default does: a new
  // grant per request would revoke the codes of flows still in flight.)
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile");
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
if (env.DEBUG) {
  provider.on("grant.error", (ctx, err) => console.error("grant.error", err.message, err.error_detail, err.stack));
}
// The login step: sign the user in without a form.
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith("/interaction/")) {
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: "nurse-1" } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
    return;
  }
  await next();
});
provider.listen(Number(env.PORT), "127.0.0.1", () => console.log("node-op ready"));
