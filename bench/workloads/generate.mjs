#!/usr/bin/env node
// Generates the labelled routing workload bench/workloads/mixed-1200.jsonl.
//
//   node bench/workloads/generate.mjs [--seed 20251125] [--count 1200] [--out FILE]
//
// Deterministic: the same seed and count give the same file, byte for byte. No external
// data: every request is built from the templates and word lists below.
//
// Each line is one request:
//   {"id","kind","min_quality","body"}
//   kind         chat | summary | code | long
//   min_quality  the lowest deployment quality (0..1) that answers it well enough: the label
//                the oracle in bench/economics/run.mjs prices against
//   body         an OpenAI Chat Completions request for model "router-bench"
//
// Mix: 57 % chat (0.4 or 0.5), 20 % summary (0.6), 15 % code (0.8 or 0.85),
// 8 % long context (0.7; at least 6,000 prompt tokens as the gateway estimates them,
// i.e. a body of 24,000+ bytes). Long requests are kept at 8 % rather than 10 % so the
// file stays near 3 MB.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const SEED = Number(arg('seed', 20251125));
const COUNT = Number(arg('count', 1200));
const OUT = arg('out', path.join(HERE, `mixed-${COUNT}.jsonl`));
const MODEL = 'router-bench';
const MIX = { chat: 0.57, summary: 0.20, code: 0.15, long: 0.08 };
const LONG_MIN_BYTES = 24400;   // content bytes; the body is a little larger

// --- seeded randomness (mulberry32) --------------------------------------------------------
let state = SEED >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (a) => a[Math.floor(rand() * a.length)];
const chance = (p) => rand() < p;
function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
const cap = (s) => s[0].toUpperCase() + s.slice(1);

// --- word lists ----------------------------------------------------------------------------
const W = {
  names: ['Priya', 'Marcus', 'Lena', 'Tomás', 'Aiko', 'Daniel', 'Fatima', 'Grace', 'Jonas', 'Mei',
    'Olu', 'Sofia', 'Ravi', 'Hannah', 'Kenji', 'Amara', 'Luca', 'Nadia', 'Pedro', 'Ingrid'],
  cities: ['Lisbon', 'Kyoto', 'Toronto', 'Nairobi', 'Edinburgh', 'Buenos Aires', 'Seoul', 'Krakow',
    'Melbourne', 'Marrakesh', 'Oslo', 'Mexico City', 'Hanoi', 'Copenhagen', 'Cape Town'],
  countries: ['Portugal', 'Kenya', 'Chile', 'Vietnam', 'Norway', 'Morocco', 'New Zealand', 'Peru',
    'Finland', 'Ghana', 'Uruguay', 'Slovenia', 'Malaysia', 'Iceland', 'Jordan'],
  langs: ['French', 'Spanish', 'German', 'Japanese', 'Italian', 'Portuguese', 'Korean', 'Dutch'],
  phrases: ['Where is the nearest train station?', 'Could we move the meeting to Thursday?',
    'Thank you for your patience.', 'I would like a table for four, please.',
    'The package arrived damaged.', 'Happy birthday, I hope your year is wonderful!',
    'Is breakfast included in the price?', 'Please find the invoice attached.'],
  pairs: ['a latte and a flat white', 'weather and climate', 'a virus and a bacterium',
    'RAM and disk storage', 'baking soda and baking powder', 'an LLC and a sole proprietorship',
    'a Roth IRA and a traditional IRA', 'affect and effect', 'a crocodile and an alligator',
    'HTTP and HTTPS', 'a stock and a bond', 'jam and jelly', 'a comet and an asteroid'],
  howtos: ['remove a red wine stain from a carpet', 'keep basil alive indoors',
    'fall asleep faster', 'negotiate a higher salary', 'clean a cast iron pan',
    'get rid of fruit flies', 'start running if I have never run before',
    'make my phone battery last longer', 'learn to touch type', 'fix a squeaky door hinge',
    'make cold brew coffee at home', 'keep my houseplants alive while on vacation',
    'back up photos from my phone', 'stop procrastinating on big projects'],
  things: ['a coffee shop', 'a golden retriever puppy', 'a podcast about gardening',
    'a board game night group', 'a small bakery', 'a hiking club', 'a home Wi-Fi network',
    'a fantasy novel villain', 'a vintage clothing store', 'a family newsletter'],
  occasions: ['birthday', 'retirement', 'thank-you', 'get-well-soon', 'congratulations', 'farewell'],
  relations: ['sister', 'boss', 'neighbour', 'grandfather', 'best friend', 'colleague', 'aunt'],
  activities: ['pottery', 'yoga', 'salsa', 'spin', 'watercolour', 'improv', 'cooking', 'climbing'],
  ingredients: [['buttermilk', 'pancakes'], ['eggs', 'brownies'], ['heavy cream', 'a pasta sauce'],
    ['fresh ginger', 'a stir fry'], ['white wine', 'risotto'], ['butter', 'banana bread'],
    ['fish sauce', 'pad thai'], ['ricotta', 'lasagna']],
  concepts: ['inflation', 'photosynthesis', 'how vaccines work', 'black holes', 'compound interest',
    'why the sky is blue', 'how airplanes stay in the air', 'plate tectonics', 'the stock market',
    'how the internet works', 'what DNA does', 'why we have seasons'],
  animals: ['octopuses', 'crows', 'axolotls', 'honeybees', 'sea otters', 'tardigrades', 'owls',
    'elephants', 'hummingbirds', 'capybaras'],
  genres: ['mystery', 'science fiction', 'historical fiction', 'non-fiction', 'fantasy', 'thriller'],
  units: [['teaspoons', 'tablespoon'], ['ounces', 'pound'], ['millilitres', 'cup'],
    ['feet', 'mile'], ['grams', 'kilogram'], ['minutes', 'day']],
  casual: ['hey, can u send me the file asap', 'we kinda messed up the order, sorry about that',
    'gonna be late, traffic is nuts', 'thx for the help yesterday, super useful',
    'not sure this plan works tbh'],
  followups: ['how long does that usually take', 'is there a cheaper option',
    'what if I only have an hour', 'does that work for kids too', 'can you make it shorter'],
  products: ['billing dashboard', 'mobile checkout', 'partner API', 'search relaunch',
    'loyalty programme', 'onboarding flow', 'warehouse scanner app', 'pricing page'],
  companies: ['Northwind Logistics', 'Bluefin Analytics', 'Harbor & Pine', 'Quillstone Media',
    'Tessellate Health', 'Copperleaf Energy', 'Orchard Lane Foods', 'Vantage Rail'],
  services: ['checkout-service', 'auth-gateway', 'inventory-sync', 'payment-worker',
    'search-indexer', 'email-dispatcher', 'pricing-engine', 'session-store'],
};

// --- chat: short everyday questions --------------------------------------------------------
const CHAT = [
  () => `How do I ${pick(W.howtos)}?`,
  () => `What's the difference between ${pick(W.pairs)}?`,
  () => `Can you suggest ${int(3, 8)} names for ${pick(W.things)}?`,
  () => `Translate "${pick(W.phrases)}" into ${pick(W.langs)}.`,
  () => `What is the capital of ${pick(W.countries)}?`,
  () => `Write a short ${pick(W.occasions)} message for my ${pick(W.relations)}.`,
  () => `Give me a ${int(2, 4)}-day itinerary for ${pick(W.cities)}, just the highlights.`,
  () => `I'm starting a ${pick(W.activities)} class next week. What should I bring?`,
  () => { const [a, b] = pick(W.ingredients); return `What's a good substitute for ${a} in ${b}?`; },
  () => `Explain ${pick(W.concepts)} like I'm ten.`,
  () => `Tell me a fun fact about ${pick(W.animals)}.`,
  () => `Recommend a ${pick(W.genres)} book for a long flight.`,
  () => { const [a, b] = pick(W.units); return `How many ${a} are in a ${b}?`; },
  () => `Rewrite this to sound more professional: "${pick(W.casual)}"`,
  () => `What time zone is ${pick(W.cities)} in?`,
  () => `How long should I boil an egg for a ${pick(['runny', 'jammy', 'firm'])} yolk?`,
  () => `Help me write a polite reply declining an invitation to ${pick(['a wedding', 'a team dinner', 'a conference talk', 'a weekend trip'])}.`,
  () => `Is it worth visiting ${pick(W.cities)} in ${pick(['January', 'April', 'July', 'October'])}?`,
  () => `What are ${int(3, 5)} easy dinners I can make in under 30 minutes?`,
  () => `Any tips for a first job interview at ${pick(['a startup', 'a bank', 'a hospital', 'a design agency'])}?`,
  () => `Why do ${pick(W.animals)} ${pick(['sleep so much', 'live in groups', 'change colour', 'migrate'])}?`,
  () => `My ${pick(W.relations)} is turning ${int(30, 80)}. Gift ideas under $50?`,
];

function chatRequest() {
  const messages = [];
  if (chance(0.4)) messages.push({ role: 'system', content: 'You are a helpful, concise assistant.' });
  const q = pick(CHAT)();
  if (chance(0.2)) {
    // a short earlier exchange, then a follow-up
    messages.push({ role: 'user', content: q });
    messages.push({ role: 'assistant', content: `Sure. ${pick(['Here are a few ideas', 'In short', 'The quick answer'])}: ${pick(['it depends on what you have at hand', 'start small and keep it simple', 'most people find the first option easiest'])}.` });
    messages.push({ role: 'user', content: `Thanks! And ${pick(W.followups)}?` });
  } else {
    messages.push({ role: 'user', content: q });
  }
  const body = { model: MODEL, messages };
  if (chance(0.3)) body.temperature = pick([0.2, 0.7, 1]);
  if (chance(0.2)) body.max_tokens = pick([128, 256, 512]);
  return { kind: 'chat', min_quality: chance(0.6) ? 0.4 : 0.5, body };
}

// --- summary: a few paragraphs and an instruction ------------------------------------------
function paragraph(topic) {
  const n = pick(W.names);
  const c = topic.company;
  const S = [
    () => `${c} reported revenue of $${int(12, 480)} million for the quarter, up ${int(2, 31)} percent from a year earlier, while operating costs rose ${int(1, 19)} percent.`,
    () => `The ${topic.product} launched in ${pick(W.cities)} in ${pick(['March', 'May', 'September', 'November'])} and reached ${int(2, 90)} thousand weekly users within six weeks.`,
    () => `${n}, who leads the ${pick(['finance', 'operations', 'product', 'customer success', 'engineering'])} team, said the results were "${pick(['ahead of plan', 'mixed but encouraging', 'below what we hoped', 'the best in three years'])}" and warned that ${pick(['supplier prices', 'hiring delays', 'currency swings', 'regulatory reviews'])} could weigh on the next quarter.`,
    () => `Customers mostly praised ${pick(['the faster delivery times', 'the simpler sign-up', 'the new mobile layout', 'the responsive support team'])}, but ${int(8, 35)} percent of survey respondents complained about ${pick(['unclear pricing', 'slow refunds', 'missing features', 'frequent outages'])}.`,
    () => `A pilot in ${pick(W.cities)} cut average handling time from ${int(9, 20)} to ${int(3, 8)} minutes, and the company plans to extend it to ${int(3, 12)} more regions by the end of the year.`,
    () => `The board approved a budget of $${int(2, 40)} million for ${pick(['new warehouses', 'a data platform', 'staff training', 'a marketing campaign', 'renewable energy contracts'])}, to be spent over the next ${int(2, 5)} years.`,
    () => `Analysts at ${pick(['Meridian Research', 'Crossbow Partners', 'Fairline Securities'])} expect the market for ${topic.market} to grow by about ${int(4, 18)} percent a year until ${int(2028, 2033)}.`,
    () => `Not everyone agreed: ${pick(W.names)} from the works council argued that the plan ${pick(['moves too fast', 'ignores smaller customers', 'relies on optimistic forecasts', 'puts too much pressure on the night shift'])}.`,
    () => `An incident on ${pick(['Tuesday', 'Friday', 'the first weekend of the month'])} left the ${topic.product} unavailable for ${int(20, 190)} minutes; the root cause was ${pick(['an expired certificate', 'a misconfigured load balancer', 'a full disk on the primary database', 'a faulty deployment script'])}.`,
    () => `The team has since added ${pick(['an automated rollback', 'extra monitoring', 'a second on-call engineer', 'a weekly capacity review'])} and says a repeat is "${pick(['unlikely', 'much less likely', 'not ruled out, but contained'])}".`,
  ];
  const k = int(3, 5);
  const order = shuffle(S.slice()).slice(0, k);
  return order.map((f) => f()).join(' ');
}

const SUMMARY_ASK = [
  (t) => `Summarize the following article in three bullet points:\n\n${t}`,
  (t) => `${t}\n\nSummarise this for a busy executive in two sentences.`,
  (t) => `Can you give me a short summary of this report?\n\n${t}`,
  (t) => `TL;DR please:\n\n${t}`,
  (t) => `${t}\n\nWhat are the key points of the text above? Keep it brief.`,
  (t) => `Please summarize this update and list any risks it mentions:\n\n${t}`,
  (t) => `${t}\n\nCondense the text above into one short paragraph.`,
];

function summaryRequest() {
  const topic = { company: pick(W.companies), product: pick(W.products),
    market: pick(['cold-chain logistics', 'home energy storage', 'telehealth', 'B2B analytics', 'plant-based snacks']) };
  const paras = Array.from({ length: int(2, 4) }, () => paragraph(topic)).join('\n\n');
  const messages = [];
  if (chance(0.3)) messages.push({ role: 'system', content: 'You write clear, neutral summaries.' });
  messages.push({ role: 'user', content: pick(SUMMARY_ASK)(paras) });
  return { kind: 'summary', min_quality: 0.6, body: { model: MODEL, messages } };
}

// --- code: snippets in several languages, fenced or inline ---------------------------------
const ident = () => pick(['user', 'order', 'item', 'record', 'event', 'invoice', 'session', 'row']);
const SNIPPETS = [
  ['python', ['return None instead of the total', 'returns None instead of the total'], () => { const v = ident();
    return `def total_${v}s(${v}s):\n    total = 0\n    for ${v} in ${v}s:\n        total += ${v}.amount\n    print(total)`; }],
  ['python', ['raise AttributeError on the second call', 'raises AttributeError on the second call'], () => { const v = ident(); const C = cap(v);
    return `class ${C}Cache:\n    def __init__(self):\n        self.items = {}\n\n    def get(self, key):\n        return self.items.get(key).value\n\n    def put(self, key, value):\n        self.items[key] = value`; }],
  ['python', ['take so long on a list of 100k items', 'is very slow on a list of 100k items'], () => { const v = ident();
    return `def dedupe(${v}s):\n    seen = []\n    out = []\n    for x in ${v}s:\n        if x not in seen:\n            seen.append(x)\n            out.append(x)\n    return out`; }],
  ['c', ['crash with a segmentation fault', 'crashes with a segmentation fault'], () =>
    `#include <stdio.h>\n#include <string.h>\n\nint main(void) {\n    char *name;\n    strcpy(name, "${pick(W.names)}");\n    printf("%s\\n", name);\n    return 0;\n}`],
  ['cpp', ['print garbage for the last element', 'prints garbage for the last element'], () =>
    `#include <iostream>\n#include <vector>\n\nint main() {\n    std::vector<int> v{${int(1, 9)}, ${int(1, 9)}, ${int(1, 9)}};\n    for (size_t i = 0; i <= v.size(); ++i) std::cout << v[i] << "\\n";\n}`],
  ['javascript', ['log the same index three times', 'logs the same index three times'], () =>
    `function schedule(tasks) {\n  for (var i = 0; i < tasks.length; i++) {\n    setTimeout(function () { console.log('running', i); }, 100);\n  }\n}`],
  ['typescript', ['not compile', 'does not compile'], () => { const C = cap(ident());
    return `interface ${C} { id: number; tags?: string[] }\n\nfunction firstTag(x: ${C}): string {\n  return x.tags[0].toUpperCase();\n}`; }],
  ['go', ['deadlock', 'deadlocks'], () =>
    `func main() {\n\tch := make(chan int)\n\tch <- ${int(1, 99)}\n\tfmt.Println(<-ch)\n}`],
  ['rust', ['fail the borrow checker', 'fails the borrow checker'], () =>
    `fn longest(a: &str, b: &str) -> &str {\n    if a.len() > b.len() { a } else { b }\n}`],
  ['sql', ['return duplicate rows', 'returns duplicate rows'], () => { const t = ident();
    return `SELECT c.name, o.total\nFROM customers c\nJOIN ${t}s o ON o.customer_id = c.id\nJOIN addresses a ON a.customer_id = c.id\nWHERE o.created_at > '2024-01-01';`; }],
  ['java', ['throw a NullPointerException', 'throws a NullPointerException'], () => { const C = cap(ident());
    return `public class ${C}Service {\n    private Map<String, ${C}> cache;\n\n    public ${C} find(String id) {\n        return cache.get(id);\n    }\n}`; }],
];
const LANG_NAME = { python: 'Python', c: 'C', cpp: 'C++', javascript: 'JavaScript', typescript: 'TypeScript',
  go: 'Go', rust: 'Rust', sql: 'SQL', java: 'Java' };
const CODE_ASK = [
  (lang, prob, code) => `Why does this ${LANG_NAME[lang]} code ${prob[0]}?\n\n\`\`\`${lang}\n${code}\n\`\`\``,
  (lang, prob, code) => `Can you review this and suggest a fix? It ${prob[1]}.\n\n\`\`\`${lang}\n${code}\n\`\`\``,
  (lang, prob, code) => `\`\`\`${lang}\n${code}\n\`\`\`\nRefactor this to be idiomatic ${LANG_NAME[lang]} and add tests.`,
  (lang, prob, code) => `Explain line by line what this does:\n\`\`\`\n${code}\n\`\`\``,
];
// Inline (unfenced) questions that still carry code.
const CODE_INLINE = [
  () => `In Python, why does def add(item, bucket=[]): keep items from earlier calls?`,
  () => `What does #include <bits/stdc++.h> do, and should I use it in production code?`,
  () => `Is fn main() -> Result<(), Box<dyn Error>> idiomatic Rust for a CLI tool?`,
  () => `My Go method func (s *Server) Start() error never returns. How do I run it in the background and still stop it cleanly?`,
  () => `In JavaScript, what's the difference between function ${ident()}Total(a, b) { return a + b } and an arrow function?`,
  () => `Java question: should class ${cap(ident())}Repository be final if Spring needs to proxy it?`,
  () => `Why is SELECT COUNT(*) FROM ${ident()}s WHERE status = 'open' slow on a 50M-row table with an index on status?`,
];

function codeRequest() {
  let content;
  if (chance(0.8)) {
    const [lang, prob, gen] = pick(SNIPPETS);
    content = pick(CODE_ASK)(lang, prob, gen());
  } else {
    content = pick(CODE_INLINE)();
  }
  const messages = [];
  if (chance(0.5)) messages.push({ role: 'system', content: 'You are a senior software engineer. Answer with working code.' });
  messages.push({ role: 'user', content });
  const body = { model: MODEL, messages };
  if (chance(0.3)) body.temperature = 0;
  if (chance(0.3)) body.max_tokens = pick([1024, 2048]);
  return { kind: 'code', min_quality: chance(0.5) ? 0.8 : 0.85, body };
}

// --- long context: a large document and a question about it --------------------------------
function pad2(n) { return String(n).padStart(2, '0'); }

function transcript(target) {
  const people = shuffle(W.names.slice()).slice(0, int(3, 6));
  const topics = shuffle(W.products.slice()).slice(0, 3);
  const lines = [`Weekly planning meeting, ${pick(W.companies)}. Attendees: ${people.join(', ')}.`, ''];
  let h = 9, m = 0;
  while (lines.join('\n').length < target) {
    m += int(0, 2); if (m >= 60) { m -= 60; h++; }
    const who = pick(people);
    const t = pick(topics);
    lines.push(`[${pad2(h)}:${pad2(m)}] ${who}: ` + pick([
      `For the ${t}, we are about ${int(40, 95)} percent done, the remaining work is mostly ${pick(['testing', 'translations', 'the data migration', 'accessibility fixes'])}.`,
      `I talked to ${pick(W.companies)} yesterday and they want the ${t} before ${pick(['the end of the month', 'the holidays', 'their board meeting', 'Q3'])}.`,
      `I'm worried about the ${t}; ${pick(['two people are on leave', 'the vendor has not replied', 'the estimates keep growing', 'legal has not signed off'])}.`,
      `Can we agree that ${pick(people)} owns the ${t} follow-up and reports back on ${pick(['Monday', 'Wednesday', 'Friday'])}?`,
      `Agreed. Let's move the ${t} launch by ${int(1, 4)} weeks rather than cut the scope.`,
      `The numbers from last week: ${int(100, 900)} sign-ups, ${int(2, 14)} percent churn, support tickets ${pick(['up', 'down'])} ${int(3, 30)} percent.`,
      `Quick reminder that the budget review is on the ${int(1, 28)}th and we still owe finance the ${t} forecast.`,
      `I disagree, the ${t} is fine as it is; the real problem is ${pick(['onboarding', 'pricing', 'performance on older phones', 'the partner contract'])}.`,
    ]));
  }
  const t = pick(topics);
  return [lines.join('\n'), pick([
    `Based on the transcript above, what did the team decide about the ${t}, and who owns the follow-up?`,
    `From this meeting, list every risk raised about the ${t} and who raised it.`,
    `Were there any disagreements in this meeting? Who disagreed with whom, and about what?`,
  ])];
}

function logs(target) {
  const lines = [];
  let sec = int(0, 3600);
  const bad = pick(W.services);
  const spikeAt = int(40, 70) / 100;
  while (lines.join('\n').length < target) {
    sec += int(1, 7);
    const hh = pad2(10 + Math.floor(sec / 3600)), mm = pad2(Math.floor(sec / 60) % 60), ss = pad2(sec % 60);
    const svc = pick(W.services);
    const late = lines.join('\n').length > target * spikeAt;
    const level = late && svc === bad && chance(0.6) ? 'ERROR' : pick(['INFO', 'INFO', 'INFO', 'WARN']);
    const msg = level === 'ERROR'
      ? pick([`upstream timeout after ${int(2000, 9000)}ms calling ${pick(W.services)}`, `connection pool exhausted (${int(32, 128)} in use)`, `request failed status=503 retries=${int(1, 3)}`])
      : pick([`request completed status=200 duration_ms=${int(3, 400)} route=/api/v2/${ident()}s`, `cache hit ratio ${int(70, 99)}%`, `processed batch size=${int(10, 500)} lag_ms=${int(0, 900)}`, `health check ok`, `slow query took ${int(500, 3000)}ms on table ${ident()}s`, `token refreshed for tenant ${int(1000, 9999)}`]);
    lines.push(`2025-03-14T${hh}:${mm}:${ss}Z ${level.padEnd(5)} ${svc} ${msg}`);
  }
  return [lines.join('\n'), pick([
    'In the logs above, when did the error rate first spike, and which service was involved?',
    'Looking at these logs, what is the most likely root cause of the errors? Give timestamps.',
    'Which service in these logs is unhealthy, and what would you check first?',
  ])];
}

function contract(target) {
  const a = pick(W.companies), b = pick(W.companies.filter((x) => x !== a));
  const parts = [`MASTER SERVICES AGREEMENT between ${a} ("Provider") and ${b} ("Customer").`, ''];
  let sec = 1;
  while (parts.join('\n').length < target) {
    parts.push(`${sec}. ${pick(['Term', 'Fees', 'Service Levels', 'Confidentiality', 'Termination', 'Liability', 'Data Protection', 'Subcontractors', 'Audit Rights', 'Notices'])}.`);
    for (let k = 1; k <= int(2, 4); k++) {
      parts.push(`${sec}.${k} ` + pick([
        `The Provider shall make the Services available ${int(95, 99)}.${int(0, 9)} percent of each calendar month, excluding scheduled maintenance notified at least ${int(2, 10)} days in advance.`,
        `Fees are invoiced ${pick(['monthly', 'quarterly', 'annually'])} in advance and are payable within ${pick([15, 30, 45, 60])} days of the invoice date; late amounts bear interest at ${int(1, 5)} percent per month.`,
        `Either party may terminate this Agreement for convenience on ${pick([30, 60, 90])} days' written notice, provided that no termination takes effect during the first ${int(6, 24)} months.`,
        `Neither party's aggregate liability shall exceed the fees paid in the ${int(6, 24)} months preceding the event giving rise to the claim, except for breaches of confidentiality.`,
        `The Customer may audit the Provider's compliance no more than once per ${pick(['year', 'six months'])}, at its own cost, on ${int(10, 30)} business days' notice.`,
        `Personal data shall be processed only in ${pick(['the European Economic Area', 'the United Kingdom', 'Canada', 'the United States'])} and only on the Customer's documented instructions.`,
        `The Provider may engage subcontractors, provided it remains responsible for their performance and gives the Customer ${int(10, 30)} days to object.`,
        `Service credits of ${int(5, 25)} percent of the monthly fee apply for each full percentage point below the service level, up to ${int(30, 50)} percent in total.`,
      ]));
    }
    sec++;
  }
  return [parts.join('\n'), pick([
    'Does the agreement above allow the Customer to terminate early? Quote the relevant clauses.',
    'What service credits can the Customer claim under this agreement, and is there a cap?',
    'List every notice period in this agreement and what each one applies to.',
  ])];
}

function longRequest() {
  const target = int(LONG_MIN_BYTES, 26000);
  const [doc, question] = pick([transcript, logs, contract])(target);
  const messages = [];
  const shape = int(0, 2);
  if (shape === 0) {
    messages.push({ role: 'user', content: `${doc}\n\n${question}` });
  } else if (shape === 1) {
    messages.push({ role: 'system', content: `Answer questions about this document.\n\n${doc}` });
    messages.push({ role: 'user', content: question });
  } else {
    messages.push({ role: 'user', content: `Here is a document, I'll ask about it next.\n\n${doc}` });
    messages.push({ role: 'assistant', content: 'Got it. What would you like to know?' });
    messages.push({ role: 'user', content: question });
  }
  return { kind: 'long', min_quality: 0.7, body: { model: MODEL, messages } };
}

// --- assemble ------------------------------------------------------------------------------
const GEN = { chat: chatRequest, summary: summaryRequest, code: codeRequest, long: longRequest };
const kinds = [];
const kindNames = Object.keys(MIX);
let assigned = 0;
for (const k of kindNames) {
  const n = k === kindNames.at(-1) ? COUNT - assigned : Math.round(COUNT * MIX[k]);
  for (let i = 0; i < n; i++) kinds.push(k);
  assigned += n;
}
shuffle(kinds);

const lines = kinds.map((k, i) => {
  const r = GEN[k]();
  return JSON.stringify({ id: `mx-${String(i + 1).padStart(4, '0')}`, kind: r.kind, min_quality: r.min_quality, body: r.body });
});
writeFileSync(OUT, lines.join('\n') + '\n');

const counts = Object.fromEntries(kindNames.map((k) => [k, kinds.filter((x) => x === k).length]));
const bytes = lines.reduce((s, l) => s + l.length + 1, 0);
console.error(`wrote ${OUT}: ${COUNT} requests ${JSON.stringify(counts)}, ${(bytes / 1048576).toFixed(2)} MiB, seed ${SEED}`);
