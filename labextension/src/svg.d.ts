// The builder and the jest transform both load an SVG file as its source text.
declare module '*.svg' {
  const value: string;
  export default value;
}
