/**
 * The child process of `llama-ts cost`: measures one (type, threads) and prints one JSON line
 * (a MeasuredCost). A process of its own per measurement keeps each peak RSS clean.
 */
import { measureInProcess, type WorkerRequest } from "./cost.js";

const req = JSON.parse(process.argv[2] ?? "{}") as WorkerRequest;
process.stdout.write(JSON.stringify(measureInProcess(req)) + "\n");
