// The server's compact binary form (backend latentatlas/serve/array_pack.py), read with no library:
// bytes 0-3 "LAP1", bytes 4-7 the header's length H (uint32, little-endian), then H bytes of JSON
// whose `arrays` table names each array's dtype (float32 / int32), shape and byte offset.

const MAGIC = "LAP1";
const TYPES = { float32: Float32Array, int32: Int32Array };

/** {header, arrays: {name: Float32Array | Int32Array (flat, C order)}, shapes: {name: [..]}} of a packed buffer. */
export function unpackArrays(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 8 || new TextDecoder().decode(new Uint8Array(buffer, 0, 4)) !== MAGIC) {
    throw new Error("the server's binary reply is not a packed-arrays buffer");
  }
  const length = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length)));
  const arrays = {};
  const shapes = {};
  for (const { name, dtype, shape, offset } of header.arrays) {
    const count = shape.reduce((a, b) => a * b, 1);
    arrays[name] = new TYPES[dtype](buffer, offset, count); // little-endian, as every browser's platform is
    shapes[name] = shape;
  }
  delete header.arrays;
  return { header, arrays, shapes };
}
