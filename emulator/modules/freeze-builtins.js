/*
 * The built-ins as a device has them: xsl, after running the preloaded modules at build time, freezes
 * the intrinsic prototypes and namespace objects (manifest_base's "strip": "*"). The emulator imports
 * this module at the same point, so firmware that writes to a built-in (for instance `this.name = …`
 * in an Error subclass, which the frozen Error.prototype forbids) fails here as it does on a board.
 */
const proto = Object.getPrototypeOf;
const targets = [globalThis.Atomics, JSON, Math, Reflect];
const constructors = [
	"AggregateError", "Array", "ArrayBuffer", "BigInt", "Boolean", "Compartment", "DataView", "Date",
	"Error", "EvalError", "FinalizationRegistry", "Function", "Map", "Number", "Object", "Promise",
	"RangeError", "ReferenceError", "RegExp", "Set", "SharedArrayBuffer", "String", "Symbol",
	"SyntaxError", "TypeError", "URIError", "WeakMap", "WeakRef", "WeakSet",
	"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
	"Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
];
for (const name of constructors) {
	const c = globalThis[name];
	if (typeof c === "function" && c.prototype) targets.push(c.prototype);
}
function* generator() {}
async function asyncFunction() {}
async function* asyncGenerator() {}
const arrayIterator = proto([][Symbol.iterator]());
targets.push(
	proto(Int8Array.prototype),                      // %TypedArray%.prototype
	arrayIterator, proto(arrayIterator),             // %ArrayIteratorPrototype%, %IteratorPrototype%
	proto(new Map()[Symbol.iterator]()), proto(new Set()[Symbol.iterator]()),
	proto(""[Symbol.iterator]()), proto(/x/[Symbol.matchAll]("")),
	proto(generator), proto(generator).prototype,    // %GeneratorFunction.prototype%, %GeneratorPrototype%
	proto(asyncFunction),
	proto(asyncGenerator), proto(asyncGenerator).prototype, proto(proto(asyncGenerator).prototype),
	Array.prototype[Symbol.unscopables],
);
for (const target of targets) Object.freeze(target);
