// The seed's story through a typed client: openapi-fetch over the types that openapi-typescript generates from
// docs/openapi.json. It is only type-checked (`tsc --strict --noEmit`), never run: it compiles exactly when the
// document types what the server sends, so each line below states one fact a client relies on.
import createClient from "openapi-fetch";
import type { components, paths } from "tenancy-openapi";

type Schemas = components["schemas"];

export async function story(baseUrl: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });

  // Sign up: `invitation` is always sent, `null` when there was none.
  const signedUp = await client.POST("/v1/auth/signup", {
    body: { email: "owner@example.com", password: "correct horse battery" },
  });
  if (signedUp.error) {
    throw new Error(signedUp.error.detail);
  }
  const invitation: Schemas["SignUpInvitation"] | null = signedUp.data.invitation;
  const owner = { Authorization: `Bearer ${signedUp.data.token}` };

  // Create an organization: the caller's capabilities are a closed set.
  const created = await client.POST("/v1/organizations", {
    headers: owner,
    body: { name: "Acme" },
  });
  if (created.error) {
    throw new Error(created.error.detail);
  }
  const org = created.data.id;
  const canInvite: boolean = created.data.capabilities.includes("manage_members");
  // @ts-expect-error a capability that does not exist
  created.data.capabilities.includes("manage_memberz");
  const inOrg = { path: { org_id: org } };

  // Invite a viewer: an invitation's status is a closed set.
  const invited = await client.POST("/v1/organizations/{org_id}/invitations", {
    params: inOrg,
    headers: owner,
    body: { email: "viewer@example.com" },
  });
  if (invited.error) {
    throw new Error(invited.error.detail);
  }
  const pending: boolean = invited.data.status === "pending";

  // List the members: a page, with `next_cursor` always sent and `null` on the last page.
  const members = await client.GET("/v1/organizations/{org_id}/members", {
    params: inOrg,
    headers: owner,
  });
  if (members.error) {
    throw new Error(members.error.detail);
  }
  const emails: string[] = members.data.items.map((member) => member.email);
  const cursor: string | null = members.data.next_cursor;

  // A refusal is a problem whose `code` is one of API.md's codes, so a misspelt code does not compile.
  const outsider = await client.GET("/v1/organizations/{org_id}/members", { params: inOrg });
  if (outsider.error) {
    const problem: Schemas["Problem"] = outsider.error;
    const forbidden: boolean = problem.code === "forbidden";
    // @ts-expect-error `forbiden` is not a problem code
    const misspelt: boolean = problem.code === "forbiden";
    console.log(forbidden, misspelt);
  }

  // Upload a Blob as a knowledge file: one multipart part named `file`.
  const uploaded = await client.POST("/v1/organizations/{org_id}/knowledge-files", {
    params: inOrg,
    headers: owner,
    body: { file: new Blob(["# notes"], { type: "text/markdown" }) },
    bodySerializer(body) {
      const form = new FormData();
      form.append("file", body.file, "notes.md");
      return form;
    },
  });
  if (uploaded.error) {
    throw new Error(uploaded.error.detail);
  }
  const sha256: string = uploaded.data.sha256;

  console.log(invitation, canInvite, pending, emails, cursor, sha256);
}
