// The HTTPS endpoint `npx serverless deploy` prints (or your custom domain in front of it).
// For the devtools against `npm run dev`, use 'http://localhost:3000' and turn off the
// domain check (详情 → 本地设置 → 不校验合法域名).
module.exports = {
  baseUrl: 'https://YOUR-API-ID.execute-api.ap-southeast-1.amazonaws.com',
};
