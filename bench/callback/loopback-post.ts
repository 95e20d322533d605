import http from 'node:http';

/**
 * One POST on a kept-alive connection of `agent`, answered with its status once the response has
 * been read: the client both the floor's POST and the bench's decisions are sent with, so that
 * the ratio of the two holds the same client cost on each side.
 */
export function loopbackPost(agent: http.Agent, url: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
}
